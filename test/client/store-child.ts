// Child process of the store kill test: publishes COUNT QoS 1 messages into a FileStore, waits until they are
// stored, says so on stdout and idles until it is killed. Arguments: store path, broker URL, count, protocol level.
import { connect, createClient, FileStore, type MqttClient } from '../../src/client/index.js';

const [path, url, count, level, mode] = process.argv.slice(2) as [string, string, string, string, string];
const options = { store: new FileStore(path), protocolVersion: Number(level) as 4 | 5, reconnect: { initialDelay: 60_000 } };
// `offline`: nothing listens at the URL, the messages wait in the queue; `connected`: they go out and stay unanswered.
const client: MqttClient = mode === 'offline' ? createClient(url, options) : await connect(url, options);
client.on('error', () => undefined);
for (let i = 0; i < Number(count); i++) client.publish('kill', String(i), { qos: 1 }).catch(() => undefined);
await client.whenStored();
process.stdout.write('stored\n');
setInterval(() => undefined, 1000);
