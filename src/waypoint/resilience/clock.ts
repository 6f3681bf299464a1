/** Milliseconds clock; injected so resilience logic is testable without waiting. */
export type Clock = () => number;

export const systemClock: Clock = () => performance.now();
