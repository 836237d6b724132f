// Guesses passwords from another process, as one address (a PROXY protocol header), so that the test's own process
// only measures: `node --import tsx guesser.ts PORT ADDRESS USER GUESSES CONCURRENCY`. Prints the CONNACK codes
// counted ('closed' without one) as JSON once every guess is answered.
import { RawClient } from '../helpers/raw-client.js';

const [port, address, user, guesses, concurrency] = process.argv.slice(2);
if (concurrency === undefined) throw new Error('usage: guesser.ts PORT ADDRESS USER GUESSES CONCURRENCY');

const outcomes: Record<string, number> = {};
let next = 0;
await Promise.all(Array.from({ length: Number(concurrency) }, async () => {
  while (next < Number(guesses)) {
    const guess = next++;
    const client = await RawClient.open(Number(port));
    let code: string;
    try {
      client.sendRaw(Buffer.from(`PROXY TCP4 ${address} 127.0.0.1 40000 1883\r\n`));
      code = String((await client.connect({ protocolVersion: 5, username: user, password: Buffer.from(`guess-${guess}`) }, 15_000)).reasonCode);
    } catch (err) {
      if (!client.closed) throw err;
      code = 'closed';
    } finally {
      client.destroy();
    }
    outcomes[code] = (outcomes[code] ?? 0) + 1;
  }
}));
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
