// A worker process for the SIGTERM test: `node worker_process.mjs BASE KIND`.
// Its handler appends `working`, then waits for `stopping` and returns
// {stopped: true}; it prints `claimed <id>` when it has a run.
import { Client, Worker } from '../dist/index.js';

const [base, kind] = process.argv.slice(2);
const client = new Client({ baseUrl: base });
const quiet = { info() {}, warn() {}, error() {} };
const worker = new Worker(
  client,
  async (ctx) => {
    await ctx.append('working', null);
    console.log(`claimed ${ctx.run.id}`);
    await new Promise((done) => ctx.stopping.addEventListener('abort', done, { once: true }));
    return { stopped: true };
  },
  { kinds: kind, leaseTtlMs: 3_000, waitMs: 500, graceMs: 10_000, logger: quiet },
);
await worker.run();
console.log('stopped');
