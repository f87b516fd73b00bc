// A scripted SMSC built on the npm `smpp` package: an implementation nobody here wrote.
//
// Usage: node smsc.js '<config json>'
//
// config:
//   system_id, password    credentials a bind must carry (anything else: ESME_RBINDFAIL)
//   port                   0 (default) picks a free port, reported in the "listening" line
//   script                 list of steps pushed, in order, to the first session that binds:
//                            {"deliver_sm": {...params}, "delay_ms": n}
//                            {"data_sm": {...params}, "delay_ms": n}
//                            {"enquire_link": true, "delay_ms": n}
//                            {"unbind": true, "delay_ms": n}
//                          a params value {"hex": "..."} becomes a Buffer; short_message may be
//                          a string (node encodes it by data_coding) or {"udh": {"hex"}, "message"}
//   gap_ms                 default delay between steps (default 10)
//   redeliver              resend a deliver_sm answered with a non-zero status (new sequence
//                          number, like an SMSC's redelivery), at most `max_attempts` times
//   redeliver_delay_ms     (default 50)
//   max_attempts           (default 3)
//   timeout_ms             exit(2) after this long whatever happens (default 30000)
//
// Everything that happens is printed to stdout as one JSON object per line ("event": ...),
// with "t" in milliseconds on this process's monotonic clock. The process exits when its
// stdin closes (the test is done or died) or on the timeout, so it never outlives a test.
'use strict';

const { performance } = require('perf_hooks');
const smpp = require('smpp');

const config = JSON.parse(process.argv[2] || '{}');
const script = config.script || [];
const gapMs = config.gap_ms === undefined ? 10 : config.gap_ms;
const maxAttempts = config.max_attempts || 3;
const redeliverDelayMs = config.redeliver_delay_ms === undefined ? 50 : config.redeliver_delay_ms;

function emit(event, fields) {
  const line = Object.assign({ event: event, t: performance.now() }, fields || {});
  process.stdout.write(JSON.stringify(line) + '\n');
}

function revive(value) {
  if (Array.isArray(value)) {
    return value.map(revive);
  }
  if (value !== null && typeof value === 'object') {
    if (typeof value.hex === 'string' && Object.keys(value).length === 1) {
      return Buffer.from(value.hex, 'hex');
    }
    const result = {};
    for (const key of Object.keys(value)) {
      result[key] = revive(value[key]);
    }
    return result;
  }
  return value;
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
setTimeout(() => {
  emit('timeout');
  process.exit(2);
}, config.timeout_ms || 30000).unref();

let sessionCount = 0;
let scriptStarted = false;

const server = smpp.createServer((session) => {
  const sessionId = ++sessionCount;
  let bound = false;
  let outstanding = 0;
  let scriptDone = false;
  emit('session', { session: sessionId });

  function maybeDone() {
    if (scriptDone && outstanding === 0) {
      emit('done', { session: sessionId });
    }
  }

  function sendDeliverSm(index, command, params, attempt) {
    const pdu = new smpp.PDU(command, revive(params));
    outstanding += 1;
    const sent = session.send(pdu, (resp) => {
      outstanding -= 1;
      emit('resp', {
        session: sessionId,
        index: index,
        attempt: attempt,
        sequence: resp.sequence_number,
        command: resp.command,
        command_status: resp.command_status,
      });
      if (resp.command_status !== 0 && config.redeliver && attempt < maxAttempts) {
        outstanding += 1; // the redelivery is owed
        setTimeout(() => {
          outstanding -= 1;
          sendDeliverSm(index, command, params, attempt + 1);
        }, redeliverDelayMs);
      }
      maybeDone();
    });
    emit('sent', {
      session: sessionId,
      command: command,
      index: index,
      attempt: attempt,
      sequence: pdu.sequence_number,
      written: sent,
    });
  }

  function runScript(position) {
    if (position >= script.length) {
      scriptDone = true;
      maybeDone();
      return;
    }
    const step = script[position];
    const delay = step.delay_ms === undefined ? gapMs : step.delay_ms;
    setTimeout(() => {
      if (step.deliver_sm) {
        sendDeliverSm(position, 'deliver_sm', step.deliver_sm, 1);
      } else if (step.data_sm) {
        sendDeliverSm(position, 'data_sm', step.data_sm, 1);
      } else if (step.enquire_link) {
        const pdu = new smpp.PDU('enquire_link');
        session.send(pdu, (resp) => {
          emit('enquire_link_resp', {
            session: sessionId,
            sequence: resp.sequence_number,
            command: resp.command,
            command_status: resp.command_status,
          });
        });
        emit('sent_enquire_link', { session: sessionId, sequence: pdu.sequence_number });
      } else if (step.unbind) {
        const pdu = new smpp.PDU('unbind');
        session.send(pdu, (resp) => {
          emit('unbind_resp', { session: sessionId, command_status: resp.command_status });
          session.close();
        });
        emit('sent_unbind', { session: sessionId, sequence: pdu.sequence_number });
      }
      runScript(position + 1);
    }, delay);
  }

  function onBind(pdu) {
    const ok = pdu.system_id === config.system_id && pdu.password === config.password;
    emit('bind', {
      session: sessionId,
      command: pdu.command,
      system_id: pdu.system_id,
      password: pdu.password,
      interface_version: pdu.interface_version,
      ok: ok,
    });
    if (!ok) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    // node smpp would answer as SMPP 5.0; we are a 3.4 SMSC (SMPP.md §6.6).
    session.send(pdu.response({ system_id: 'NODESMSC', sc_interface_version: 0x34 }));
    bound = true;
    if (!scriptStarted) {
      scriptStarted = true;
      runScript(0);
    }
  }

  session.on('bind_transceiver', onBind);
  session.on('bind_receiver', onBind);
  session.on('bind_transmitter', onBind);
  // node smpp does not answer enquire_link by itself.
  session.on('enquire_link', (pdu) => {
    emit('enquire_link', { session: sessionId, sequence: pdu.sequence_number, bound: bound });
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    emit('unbind', { session: sessionId, sequence: pdu.sequence_number });
    session.send(pdu.response());
    session.close();
  });
  session.on('pdu', (pdu) => {
    const known = [
      'bind_transceiver', 'bind_receiver', 'bind_transmitter', 'enquire_link', 'unbind',
      'deliver_sm_resp', 'data_sm_resp', 'enquire_link_resp', 'unbind_resp',
    ];
    if (known.indexOf(pdu.command) < 0) {
      emit('pdu', {
        session: sessionId,
        command: pdu.command,
        command_id: pdu.command_id,
        command_status: pdu.command_status,
        sequence: pdu.sequence_number,
      });
      if (!pdu.isResponse()) {
        session.send(pdu.response({ command_status: smpp.ESME_RINVCMDID }));
      }
    }
  });
  session.on('error', (error) => emit('error', { session: sessionId, message: String(error) }));
  session.on('close', () => emit('close', { session: sessionId }));
});

server.on('error', (error) => {
  emit('error', { message: String(error) });
  process.exit(3);
});
server.listen(config.port || 0, '127.0.0.1', () => {
  emit('listening', { port: server.address().port });
});
