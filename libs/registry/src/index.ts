// Entry point of @shardlab/registry: re-exports the registry's state, placement files, its gRPC service, and the client side (client, membership, directory, peers).
/**
 * The beacon registry (docs/ARCHITECTURE.md §1): `RegistryState` (placement with an epoch, endpoints,
 * liveness), its gRPC service, and the client side used by every other service: a typed client,
 * the membership loop (register + heartbeats), a cached `RegistryDirectory`, and `Peers`: typed
 * gRPC clients of the other services found through the directory.
 */
export * from './state';
export * from './placement-file';
export * from './service';
export * from './client';
export * from './membership';
export * from './directory';
export * from './peers';
