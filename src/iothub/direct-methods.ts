import { CodedError } from '../registry/index.js';

/** What the caller of a direct method gets: the device's status code and its JSON answer. */
/** A direct method call as the service API asks for it. */
export interface InvokeMethodRequest {
  methodName: string;
  payload?: unknown;
  /** Seconds to wait for the device's answer, at most 300 (IoT Hub also wants at least 5), default 30. */
  responseTimeoutInSeconds?: number;
}

export interface MethodResult {
  status: number;
  payload: unknown;
}

interface PendingCall {
  clientId: string;
  resolve(result: MethodResult): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Parses a method answer: JSON when it is JSON, the text otherwise, null when empty. */
function answerOf(payload: Uint8Array): unknown {
  if (payload.length === 0) return null;
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Direct method calls waiting for the device's answer, by request id. */
export class DirectMethods {
  private readonly pending = new Map<string, PendingCall>();
  private nextRequestId = 1;

  /**
   * Sends a request through `send` (false: the device cannot take it) and waits for the answer: 404 when it
   * cannot be sent, 504 after `timeoutMs`.
   */
  invoke(clientId: string, send: (requestId: string) => boolean, timeoutMs: number): Promise<MethodResult> {
    const requestId = (this.nextRequestId++).toString(16);
    return new Promise<MethodResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new CodedError(504, 504101, 'GatewayTimeout', `'${clientId}' did not answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(requestId, { clientId, resolve, reject, timer });
      if (!send(requestId)) {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new CodedError(404, 404103, 'DeviceNotOnline', `'${clientId}' is not connected or not subscribed to methods`));
      }
    });
  }

  /** The device's answer; ignored unless this request id is pending for this client. */
  respond(clientId: string, requestId: string, status: number, payload: Uint8Array): boolean {
    const call = this.pending.get(requestId);
    if (call === undefined || call.clientId !== clientId) return false;
    this.pending.delete(requestId);
    clearTimeout(call.timer);
    call.resolve({ status, payload: answerOf(payload) });
    return true;
  }

  /** Fails every pending call (the hub is stopping). */
  cancelAll(): void {
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new CodedError(503, 503001, 'ServiceUnavailable', 'the hub is stopping'));
    }
    this.pending.clear();
  }
}
