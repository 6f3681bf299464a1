/** The ambit release, reported by `ambit --version`, metrics (istio_build) and xDS node metadata. */
export const VERSION = '0.1.0';
