/** A failure reported with an HTTP status and IoT Hub's numeric code and name (e.g. 404, 404001, DeviceNotFound). */
export class CodedError extends Error {
  constructor(
    readonly status: number,
    /** IoT Hub's six-digit error code. */
    readonly errorCode: number,
    /** IoT Hub's error name. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CodedError';
  }
}
