#!/usr/bin/env node
// npm pack's hooks: `prepack` copies the checkout's proto/brook/v1/*.proto into proto/ here so the package carries
// them; `postpack` (--remove) deletes the copy again, so the checkout never reads a stale one (protos.js).
'use strict';

const fs = require('fs');
const path = require('path');

const target = path.join(__dirname, 'proto');
fs.rmSync(target, {recursive: true, force: true});
if (!process.argv.includes('--remove')) {
  const source = path.resolve(__dirname, '..', '..', 'proto', 'brook', 'v1');
  fs.mkdirSync(path.join(target, 'brook', 'v1'), {recursive: true});
  for (const f of fs.readdirSync(source).filter((n) => n.endsWith('.proto'))) {
    fs.copyFileSync(path.join(source, f), path.join(target, 'brook', 'v1', f));
  }
}
