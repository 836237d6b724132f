/** A failure the service API and the device endpoint report with an Azure-style numeric code and name. */
export class HubError extends Error {
  constructor(
    /** HTTP status. */
    readonly status: number,
    /** Azure's six-digit error code, e.g. 404001. */
    readonly errorCode: number,
    /** Azure's error name, e.g. DeviceNotFound. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}
