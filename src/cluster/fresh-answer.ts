/**
 * A question whose answer changes over time (the journal's last position): each caller gets an answer to a question
 * asked after its call, and the callers that come while one is being asked share the next, so a burst of callers
 * (a storm of SUBSCRIBEs) costs two questions instead of one each.
 */
export class FreshAnswer<T> {
  private asking: Promise<T> | undefined;
  private next: Promise<T> | undefined;

  constructor(private readonly ask: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.asking === undefined) return this.start();
    this.next ??= this.asking.then(
      () => this.startNext(),
      () => this.startNext(),
    );
    return this.next;
  }

  private startNext(): Promise<T> {
    this.next = undefined;
    return this.start();
  }

  private start(): Promise<T> {
    const asked = this.ask();
    this.asking = asked;
    const done = (): void => {
      if (this.asking === asked) this.asking = undefined;
    };
    asked.then(done, done);
    return asked;
  }
}
