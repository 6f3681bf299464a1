export { IdentityErrors } from './errors.js';
export { assertTrustDomain, DEFAULT_TRUST_DOMAIN, SpiffeId } from './spiffe.js';
