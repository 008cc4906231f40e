#!/usr/bin/env node
// Builds a JavaScript or TypeScript activity module into an activity-host plugin.
//
//   node guest-sdk/js/build.mjs path/to/activities.ts path/to/name.wasm
//
// (`make plugin-js SRC=... OUT=...` runs this.) Every exported function of
// the module is an activity named after its export, as in the Temporal
// TypeScript SDK. The module is bundled with esbuild, '@temporalio/activity',
// '@temporalio/common', 'activity-host' and 'activity-host/postgres'
// (node-postgres' shape over the host's pools) resolving to this SDK, then componentized with
// componentize-js. Module top-level code runs at build time (componentize-js
// snapshots the engine after it), so it must not call the host.
import { componentize } from '@bytecodealliance/componentize-js';
import * as esbuild from 'esbuild';
import { mkdtemp, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wit = resolve(here, '../../wit');

function usage(message) {
  console.error(`error: ${message}\nusage: node build.mjs SRC.(js|ts|mjs|mts) OUT.wasm`);
  process.exit(2);
}

const [source, output] = process.argv.slice(2);
if (!source || !output) usage('SRC and OUT are required');
if (!/\.(m?[jt]s)$/.test(source)) usage(`${source}: not a .js or .ts module`);
try {
  await stat(source);
} catch {
  usage(`${source}: no such file`);
}

const started = performance.now();
const work = await mkdtemp(join(tmpdir(), 'activity-host-js-'));
try {
  const bundle = join(work, 'plugin.js');
  // The SDK's fetch is installed first, so the module never sees the engine's.
  const entry = `import '@activity-host/sdk/fetch';
import * as module from ${JSON.stringify(resolve(source))};
import { makeActivities } from '@activity-host/sdk/runtime';
export const activities = makeActivities(module);`;
  try {
    await esbuild.build({
      stdin: { contents: entry, resolveDir: process.cwd(), sourcefile: 'activity-host-entry.js', loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      mainFields: ['module', 'main'],
      outfile: bundle,
      alias: {
        '@temporalio/activity': resolve(here, 'src/activity.ts'),
        '@temporalio/common': resolve(here, 'src/common.ts'),
        'activity-host': resolve(here, 'src/index.ts'),
        'activity-host/postgres': resolve(here, 'src/postgres.ts'),
        '@activity-host/sdk/runtime': resolve(here, 'src/runtime.ts'),
        '@activity-host/sdk/fetch': resolve(here, 'src/fetch.ts'),
      },
      // The host's interfaces, which componentize-js binds.
      external: ['activity-host:*', 'wasi:*'],
      keepNames: true,
      logLevel: 'silent',
    });
  } catch (e) {
    const errors = (e.errors ?? []).map((m) => `${m.location ? `${relative(process.cwd(), m.location.file)}:${m.location.line}: ` : ''}${m.text}`);
    console.error(`error: bundling ${source} failed:\n${errors.join('\n') || e.message}`);
    process.exit(1);
  }
  let component;
  try {
    // `plugin-http`: the plugin world plus the wasi:http imports that the
    // SDK's fetch (src/fetch.ts) makes its requests with.
    ({ component } = await componentize({ sourcePath: bundle, witPath: wit, worldName: 'plugin-http' }));
  } catch (e) {
    console.error(`error: building ${source} failed: ${String(e.message ?? e).split('\n').slice(0, 12).join('\n')}`);
    process.exit(1);
  }
  await mkdir(dirname(resolve(output)), { recursive: true });
  await writeFile(output, component);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`built ${output} from ${source} (${(component.length / 1e6).toFixed(1)} MB, ${seconds} s)`);
} finally {
  await rm(work, { recursive: true, force: true });
}
