// The API contract, shared with the server (types only; nothing of src/ ends up in the bundle).
export type * from '../../src/console/api-types';
