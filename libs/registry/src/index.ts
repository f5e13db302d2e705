/**
 * The beacon registry (DESIGN.md section 1): `RegistryState` (placement with an epoch, endpoints,
 * liveness), its gRPC service, and the client side used by every other service: a typed client,
 * the membership loop (register + heartbeats) and a cached `RegistryDirectory`.
 */
export * from './state';
export * from './service';
export * from './client';
export * from './membership';
export * from './directory';
export * from './backoff';
