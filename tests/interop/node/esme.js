// An ESME built on the npm `smpp` package, driven by the test over stdin.
//
// Usage: node esme.js '<config json>'
//
// config:
//   host, port             the SMSC to connect to
//   system_id, password    the bind credentials
//   bind                   "bind_transceiver" (default), "bind_receiver" or "bind_transmitter"
//   fail_first             answer the first N deliver_sm with `fail_status` (default 0x64,
//                          ESME_RX_T_APPN), every later one with 0
//   fail_status
//   timeout_ms             exit(2) after this long whatever happens (default 30000)
//
// It connects and binds at once, as SMPP 3.4 (node smpp would bind as 5.0). Commands, one
// JSON object per line on stdin, each with an "id" echoed in the answer line:
//   {"op": "submit_sm", "id": ..., "pdu": {...params}}   -> "submit_sm_resp"
//   {"op": "enquire_link", "id": ...}                     -> "enquire_link_resp"
//   {"op": "unbind", "id": ...}                           -> "unbind_resp", then close
// A params value {"hex": "..."} becomes a Buffer; short_message may be a string (node
// encodes it by data_coding) or {"udh": {"hex": ...}, "message": "..."}.
//
// Every PDU received is printed as a JSON line: deliver_sm with node's own decoding of the
// text ("text", "udh") and the raw octets ("short_message_hex", "message_payload_hex"), so the
// test can check both. The process exits when its stdin closes or on the timeout.
'use strict';

const readline = require('readline');
const { performance } = require('perf_hooks');
const smpp = require('smpp');

const config = JSON.parse(process.argv[2] || '{}');

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

// Keep the raw user data of every received PDU before node's decode filter replaces it
// with {udh, message}: the test checks UDHs and concatenation itself.
const decodeFilter = smpp.PDU.prototype._filter;
smpp.PDU.prototype._filter = function (func) {
  if (func === 'decode') {
    const raw = {};
    for (const key of ['short_message', 'message_payload']) {
      if (Buffer.isBuffer(this[key])) {
        raw[key] = Buffer.from(this[key]);
      }
    }
    Object.defineProperty(this, 'rawUserData', { value: raw, enumerable: false });
  }
  return decodeFilter.call(this, func);
};

const TLV_FIELDS = [
  'sar_msg_ref_num', 'sar_total_segments', 'sar_segment_seqnum', 'receipted_message_id',
  'message_state', 'network_error_code', 'user_message_reference', 'source_port',
  'destination_port',
];

function describeText(value) {
  if (value === undefined || value === null) {
    return { text: null, udh: [] };
  }
  if (Buffer.isBuffer(value)) {
    return { text: null, udh: [] };
  }
  if (typeof value === 'string') {
    return { text: value, udh: [] };
  }
  const message = Buffer.isBuffer(value.message) ? null : value.message;
  return { text: message, udh: (value.udh || []).map((element) => element.toString('hex')) };
}

function describeDeliverSm(pdu) {
  const raw = pdu.rawUserData || {};
  const shortMessage = describeText(pdu.short_message);
  const payload = describeText(pdu.message_payload);
  const fields = {
    sequence: pdu.sequence_number,
    service_type: pdu.service_type,
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    source_addr: pdu.source_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    destination_addr: pdu.destination_addr,
    esm_class: pdu.esm_class,
    data_coding: pdu.data_coding,
    registered_delivery: pdu.registered_delivery,
    text: shortMessage.text,
    udh: shortMessage.udh,
    short_message_hex: raw.short_message ? raw.short_message.toString('hex') : '',
    message_payload_text: payload.text,
    message_payload_hex: raw.message_payload ? raw.message_payload.toString('hex') : null,
    tlvs: {},
  };
  for (const name of TLV_FIELDS) {
    if (pdu[name] !== undefined) {
      fields.tlvs[name] = Buffer.isBuffer(pdu[name]) ? pdu[name].toString('hex') : pdu[name];
    }
  }
  return fields;
}

setTimeout(() => {
  emit('timeout');
  process.exit(2);
}, config.timeout_ms || 30000).unref();

const session = smpp.connect({ host: config.host || '127.0.0.1', port: config.port });
const bindCommand = config.bind || 'bind_transceiver';
let bound = false;

session.on('connect', () => {
  emit('connect');
  session[bindCommand](
    {
      system_id: config.system_id,
      password: config.password,
      interface_version: 0x34,
    },
    (resp) => {
      bound = resp.command_status === 0;
      emit('bind_resp', {
        command: resp.command,
        command_status: resp.command_status,
        system_id: resp.system_id === undefined ? null : resp.system_id,
        sc_interface_version:
          resp.sc_interface_version === undefined ? null : resp.sc_interface_version,
      });
    },
  );
});

let deliverSmCount = 0;
session.on('deliver_sm', (pdu) => {
  deliverSmCount += 1;
  const status = deliverSmCount <= (config.fail_first || 0) ? config.fail_status || 0x64 : 0;
  emit('deliver_sm', Object.assign(describeDeliverSm(pdu), { answered: status }));
  session.send(pdu.response({ command_status: status }));
});
// node smpp does not answer enquire_link by itself.
session.on('enquire_link', (pdu) => {
  emit('enquire_link', { sequence: pdu.sequence_number });
  session.send(pdu.response());
});
session.on('unbind', (pdu) => {
  emit('unbind', { sequence: pdu.sequence_number });
  session.send(pdu.response());
  session.close();
});
session.on('pdu', (pdu) => {
  const handled = [
    'deliver_sm', 'enquire_link', 'unbind', 'bind_transceiver_resp', 'bind_receiver_resp',
    'bind_transmitter_resp', 'submit_sm_resp', 'enquire_link_resp', 'unbind_resp',
  ];
  if (handled.indexOf(pdu.command) < 0) {
    emit('pdu', {
      command: pdu.command,
      command_id: pdu.command_id,
      command_status: pdu.command_status,
      sequence: pdu.sequence_number,
    });
  }
});
session.on('error', (error) => emit('error', { message: String(error) }));
session.on('close', () => emit('close', { bound: bound }));

const commands = readline.createInterface({ input: process.stdin });
commands.on('close', () => process.exit(0));
commands.on('line', (line) => {
  if (!line.trim()) {
    return;
  }
  const command = JSON.parse(line);
  const id = command.id;
  if (command.op === 'submit_sm') {
    const pdu = new smpp.PDU('submit_sm', revive(command.pdu || {}));
    session.send(pdu, (resp) => {
      emit('submit_sm_resp', {
        id: id,
        sequence: resp.sequence_number,
        command: resp.command,
        command_status: resp.command_status,
        message_id: resp.message_id === undefined ? null : resp.message_id,
      });
    });
    emit('sent_submit_sm', { id: id, sequence: pdu.sequence_number });
  } else if (command.op === 'enquire_link') {
    session.enquire_link({}, (resp) => {
      emit('enquire_link_resp', {
        id: id,
        sequence: resp.sequence_number,
        command: resp.command,
        command_status: resp.command_status,
      });
    });
  } else if (command.op === 'unbind') {
    session.unbind({}, (resp) => {
      emit('unbind_resp', { id: id, command_status: resp.command_status });
      session.close();
    });
  } else {
    emit('error', { id: id, message: 'unknown op ' + command.op });
  }
});
