// The README's example: create a run (one record however many callers),
// follow it live on the client's one WebSocket, and let a worker claim and
// finish it. Run against a local server:
//   runledger serve &
//   node examples/example.mjs   (Node 20 also needs `npm install ws`)
import { Client, Worker } from '@runledger/client';

// Node 20 has no global WebSocket: there the client takes the `ws` package's.
const WebSocket = globalThis.WebSocket ?? (await import('ws')).WebSocket;
const client = new Client({ WebSocket }); // RUNLEDGER_SERVER / RUNLEDGER_TOKEN, else http://127.0.0.1:7878
const kind = `report-${Date.now()}`;
const { run, created } = await client.create({ id: `${kind}-2025-01-02`, kind, attributes: { day: '2025-01-02' } });
console.log(run.id, run.state, created ? 'new' : 'already there');

const worker = new Worker(
  client,
  async (ctx) => {
    await ctx.append('progress', { part: 1 }); // carries the lease epoch
    return { rows: 42 }; // the succeeded run's result
  },
  { kinds: kind, leaseTtlMs: 30_000, waitMs: 1_000, logger: { info() {}, warn: console.warn, error: console.error } },
);
worker.start();

for await (const event of client.subscribe({ runId: run.id })) {
  console.log(event.seq, event.type, JSON.stringify(event.data)); // ends after the terminal event
}
worker.stop();
await worker.join();
console.log('result', JSON.stringify((await client.get(run.id)).result));
client.close();
