// The few declarations of @grpc/grpc-js and @grpc/proto-loader that cri.ts uses, so type-checking
// does not pull in the packages' own types (and with them @types/node, whose node:assert types
// differ from Deno's and would change how every test's assertions type-check).

/** Options of proto-loader's loadSync. */
export interface LoaderOptions {
  keepCase?: boolean;
  longs?: unknown;
  enums?: unknown;
  defaults?: boolean;
  oneofs?: boolean;
}

/** A loaded package definition (opaque). */
export interface PackageDefinition {
  readonly __packageDefinition: unique symbol;
}

/** proto-loader: parses a .proto file. */
export function loadSync(filename: string, options?: LoaderOptions): PackageDefinition;

/** Per-call metadata. */
export class Metadata {
  constructor();
}

/** Options of one call. */
export interface CallOptions {
  deadline?: Date | number;
}

/** A failed call. */
export interface ServiceError extends Error {
  code: number;
  details: string;
}

/** Channel credentials (opaque). */
export interface ChannelCredentials {
  readonly __channelCredentials: unique symbol;
}

/** Channel credentials factories. */
export const credentials: { createInsecure(): ChannelCredentials };

/** A client of one service. */
export class Client {
  close(): void;
}

/** The constructor of a generated service client. */
export type ServiceClientConstructor = new (address: string, creds: ChannelCredentials) => Client;

/** grpc-js: turns a package definition into client constructors. */
export function loadPackageDefinition(def: PackageDefinition): Record<string, unknown>;
