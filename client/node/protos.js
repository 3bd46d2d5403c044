// Where the brook.v1 .proto files are: the checkout's proto/ when this file is client/node/ of a Brook checkout,
// else the copy the package carries (proto/ beside this file; `npm pack` puts it there: copy_protos.js).
'use strict';

const fs = require('fs');
const path = require('path');

function protoDir() {
  const checkout = path.resolve(__dirname, '..', '..');
  const inCheckout = path.resolve(checkout, 'client', 'node') === __dirname &&
      fs.existsSync(path.join(checkout, 'proto', 'brook', 'v1', 'log.proto'));
  const dir = inCheckout ? path.join(checkout, 'proto') : path.join(__dirname, 'proto');
  if (!fs.existsSync(path.join(dir, 'brook', 'v1', 'log.proto'))) {
    throw new Error(`brook-client: no brook/v1/*.proto under ${dir}; install the packed package (npm pack) ` +
                    'or run from a Brook checkout');
  }
  return dir;
}

module.exports = {PROTO_DIR: protoDir()};
