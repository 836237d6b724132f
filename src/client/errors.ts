import { connectReturnCodeName, ReasonCode, reasonCodeName, type Properties } from '../packet/index.js';

/** Letters and digits only, lower case: `Bad user name or password.` and `bad_user_name_or_password` compare equal. */
function bare(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Base of every error the client raises; `reasonCode` is set when the broker (or the protocol) gave one. */
export class MqttClientError extends Error {
  override name = 'MqttClientError';
  constructor(
    message: string,
    readonly reasonCode?: number,
    /** MQTT 5 Reason String from the packet that carried the reason code. */
    readonly reasonString?: string,
    /** The name of the code, already in `message`: a reason string that only repeats it is left out of the message. */
    codeName?: string,
  ) {
    const repeats = reasonString !== undefined && codeName !== undefined && bare(reasonString) === bare(codeName);
    super(reasonString && !repeats ? `${message}: ${reasonString}` : message);
  }
}

/** The broker refused the connection. For MQTT 3.x `reasonCode` is the CONNACK return code (0-5). */
export class ConnectionRefusedError extends MqttClientError {
  override name = 'ConnectionRefusedError';
  constructor(
    reasonCode: number,
    readonly protocolVersion: number,
    readonly properties?: Properties,
  ) {
    const words = protocolVersion === 5 ? reasonCodeName(reasonCode) : connectReturnCodeName(reasonCode);
    super(`connection refused (${reasonCode}: ${words})`, reasonCode, properties?.reasonString, words);
  }

  /** MQTT 5 Server Reference: another server to use. */
  get serverReference(): string | undefined {
    return this.properties?.serverReference;
  }
}

/** A PUBLISH was answered with a negative PUBACK or PUBREC, or could not be sent (QoS or retain not supported). */
export class PublishError extends MqttClientError {
  override name = 'PublishError';
  constructor(reasonCode: number, reasonString?: string) {
    const words = reasonCodeName(reasonCode);
    super(`publish failed (0x${reasonCode.toString(16)} ${words})`, reasonCode, reasonString, words);
  }
}

/** The packet is larger than the broker's Maximum Packet Size; it was not sent. */
export class PacketTooLargeError extends MqttClientError {
  override name = 'PacketTooLargeError';
  constructor(size: number, limit: number) {
    super(`packet of ${size} bytes exceeds the broker's maximum packet size of ${limit}`, ReasonCode.PacketTooLarge);
  }
}

/**
 * A QoS 1/2 message was given up: each of its delivery attempts ended with the connection lost before the broker
 * acknowledged it, the likely sign of a broker that drops the connection on this message. It was removed from the
 * store. Only the oldest unacknowledged message is blamed for a lost connection; those after it are sent again.
 */
export class DeliveryError extends MqttClientError {
  override name = 'DeliveryError';
  constructor(
    readonly attempts: number,
    payloadBytes: number,
  ) {
    super(`gave up after sending the message ${attempts} times: each time the connection was lost before the broker ` +
      `acknowledged it. A broker closes the connection on a packet it will not take: one over its maximum packet ` +
      `size (this payload is ${payloadBytes} bytes), a topic it does not allow (MQTT 3.x); or another client ` +
      `connects with the same client id`);
  }
}

/**
 * After a connection without its session, the broker refused a subscription the client made again: the client is
 * no longer subscribed to `topicFilter`.
 */
export class ResubscribeError extends MqttClientError {
  override name = 'ResubscribeError';
  constructor(
    readonly topicFilter: string,
    reasonCode: number,
    protocolVersion: number,
  ) {
    // MQTT 3.x has one refusal code, 0x80 Failure.
    const words = protocolVersion === 5 ? reasonCodeName(reasonCode) : 'failure';
    super(`the broker refused to subscribe again to ${topicFilter} (0x${reasonCode.toString(16)} ${words}); ` +
      'the client is no longer subscribed to it', reasonCode);
  }
}

/** The client ended (or gave up reconnecting) before the operation completed. */
export class ClientClosedError extends MqttClientError {
  override name = 'ClientClosedError';
  constructor(message = 'client closed', override readonly cause?: Error) {
    super(message);
  }
}

/** Too many publishes are waiting for a connection. */
export class QueueFullError extends MqttClientError {
  override name = 'QueueFullError';
  constructor(limit: number) {
    super(`offline queue is full (${limit} messages)`);
  }
}

/** An operation did not complete in time (connect, request). */
export class TimeoutError extends MqttClientError {
  override name = 'TimeoutError';
}

/** An option or argument is not valid (for example an MQTT 5 option on an MQTT 3.x connection). */
export class InvalidOptionError extends MqttClientError {
  override name = 'InvalidOptionError';
}

/** The broker sent DISCONNECT (MQTT 5), or broke the protocol. */
export class DisconnectedError extends MqttClientError {
  override name = 'DisconnectedError';
  constructor(
    reasonCode: number,
    readonly properties?: Properties,
  ) {
    const words = reasonCodeName(reasonCode);
    super(`disconnected by the broker (0x${reasonCode.toString(16)} ${words})`, reasonCode, properties?.reasonString,
      words);
  }
}

/** The connection broke (socket error, keepalive timeout, malformed packet). */
export class ConnectionLostError extends MqttClientError {
  override name = 'ConnectionLostError';
  constructor(message: string, reasonCode?: number, override readonly cause?: Error) {
    super(message, reasonCode);
  }
}
