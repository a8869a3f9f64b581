// lrs.js PORT_FILE : Learning Locker's xapi-statements service, in memory, on 127.0.0.1.
//
// The service listens on EXPRESS_PORT on every interface; this wrapper makes
// it bind 127.0.0.1 on a free port and writes that port to PORT_FILE. The
// repositories are chosen by the environment the test sets: MODELS_REPO=memory
// (statements in memory, no MongoDB), AUTH_REPO=test (any Basic credentials
// are a client of one store), EVENTS_REPO=test (no Redis).
'use strict';
const fs = require('fs');
const http = require('http');
const portFile = process.argv[2];
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (_port, ...rest) {
  const cb = rest.find((f) => typeof f === 'function');
  return listen.call(this, 0, '127.0.0.1', () => {
    fs.writeFileSync(portFile + '.tmp', String(this.address().port));
    fs.renameSync(portFile + '.tmp', portFile);
    if (cb) cb();
  });
};
require('xapi-statements/dist/server.js');
