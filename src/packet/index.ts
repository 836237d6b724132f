export type * from './types.js';
export { PacketError } from './errors.js';
export {
  ReasonCode,
  ConnectReturnCode,
  reasonCodeName,
  connectReturnCodeName,
  toConnectReturnCode,
  fromConnectReturnCode,
} from './reason-codes.js';
export { encode, encodePublishHead, type PublishHead } from './encode.js';
export { PacketParser, decode, type PacketParserOptions } from './parser.js';
export { IdTable } from './id-table.js';
