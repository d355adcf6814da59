#!/usr/bin/env node
// PEFT Lab command-line interface: the bundled CLI lives in dist/cli.js (built by `npm run build`).
/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS launcher, run without any build step */
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const cli = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write(`peft-lab: ${cli} is missing; build it first with: npm run build\n`);
  process.exit(2);
}
require(cli);
