export { CodedError, messageOf } from "./codedError.js";
export type { DecodeErrorCode, DecodeIssue } from "./decodeError.js";
export { DecodeError, formatPath } from "./decodeError.js";
export { pack, unpack } from "./msgpack.js";
export type { Decoded, Namespace, NamespaceBuilder, Registration, TypeMap } from "./namespace.js";
export { createNamespace, MAX_TYPE_ID } from "./namespace.js";
export { RecordWriter } from "./recordWriter.js";
export type { Serializer } from "./serializer.js";
export { createSerializer, createValidator, validate } from "./serializer.js";
