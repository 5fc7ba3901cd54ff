// Generates src/generated/openapi.ts from the OpenAPI document the built
// server serves (GET /v1/openapi.json), with openapi-typescript.
//   node scripts/generate-types.mjs          write it
//   node scripts/generate-types.mjs --check  exit 1 when the committed file differs

import openapiTS, { astToString } from 'openapi-typescript';
import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, freshDir, sqliteUrl } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', 'src', 'generated', 'openapi.ts');
const check = process.argv.includes('--check');

const dir = freshDir('rlts-openapi');
const server = await new Server(sqliteUrl(dir), dir).start();
let document;
try {
  const answer = await fetch(`${server.url}/v1/openapi.json`);
  if (!answer.ok) throw new Error(`GET /v1/openapi.json answered ${answer.status}`);
  document = await answer.json();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

const header =
  '// Generated from the OpenAPI document `runledger serve` answers at\n' +
  '// GET /v1/openapi.json, by openapi-typescript (`npm run generate`).\n' +
  '// Do not edit: CI (`npm run check-types`) fails when this file differs\n' +
  '// from what the built server serves.\n\n';
const generated = header + astToString(await openapiTS(document, { emptyObjectsUnknown: true }));

if (check) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // Missing counts as different.
  }
  if (committed !== generated) {
    console.error(
      'check-types: src/generated/openapi.ts differs from the OpenAPI document the built server serves;\n' +
        'run `npm run generate` in clients/typescript and commit the result (then fix what no longer typechecks)',
    );
    process.exit(1);
  }
  console.log('check-types: src/generated/openapi.ts matches the served OpenAPI document');
} else {
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, generated);
  console.log(`wrote ${target}`);
}
