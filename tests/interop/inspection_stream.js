#!/usr/bin/env node
// Interop check of provider monitoring from a second gRPC stack: records a
// placement and then an inadequate inspection of its provider, reading the
// resulting actions from the WatchActions stream. Prints one JSON line:
// {"response": RecordInspectionResponse, "events": [ActionEvent, ...]}.
//
//   node tests/interop/inspection_stream.js <host:port> <inspection.json> <provider-id>
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const DEADLINE_MS = 20000;
const EXPECTED_EVENTS = 3; // the action plan, the visit, the decision

function fail(message) {
  process.stderr.write(`inspection_stream: ${message}\n`);
  process.exit(1);
}

function deadline() {
  return { deadline: new Date(Date.now() + DEADLINE_MS) };
}

function main(argv) {
  const [address, requestFile, providerId] = argv.slice(2);
  if (!address || !requestFile || !providerId) {
    fail('usage: node inspection_stream.js <host:port> <inspection.json> <provider-id>');
  }
  const definition = protoLoader.loadSync(
    ['lenses/v1/provider.proto', 'lenses/v1/action.proto'],
    { includeDirs: [PROTO_DIR], keepCase: false, enums: String, longs: String, defaults: true, oneofs: true },
  );
  const lenses = grpc.loadPackageDefinition(definition).lenses.v1;
  const credentials = grpc.credentials.createInsecure();
  const providers = new lenses.ProviderService(address, credentials);
  const actions = new lenses.ActionService(address, credentials);

  const request = JSON.parse(fs.readFileSync(requestFile, 'utf8'));
  request.inspection.providerId = providerId;
  request.inspection.inspectionId = `${providerId}-INS`;
  const placement = {
    placementId: `${providerId}-PL`, caseRef: `${providerId}-C`, providerId,
    startOn: '2026-01-05', socialWorkerId: 'sw-node', teamManagerId: 'tm-node',
    checks: {
      ofstedReport: true, regulationReports: true, laReferences: true,
      insurance: true, statementOfPurpose: true, socialWorkerVisit: true,
    },
  };

  const events = [];
  const stream = actions.WatchActions({ afterSequence: '0', filter: { providerId } }, deadline());
  stream.on('data', (event) => {
    if (event.type !== 'ACTION_EVENT_TYPE_CREATED') return;
    if (event.action.kind === 'ACTION_KIND_PLACEMENT_EXCEPTION') return; // never inspected before
    events.push(event);
    if (events.length === EXPECTED_EVENTS) stream.cancel();
  });
  // The stream can deliver every event (and be cancelled) before RecordInspection's
  // response arrives, or after: print once both are in, whichever comes last.
  let response;
  let streamEnded = false;
  function finish() {
    if (response === undefined || !streamEnded) return;
    process.stdout.write(`${JSON.stringify({ response, events })}\n`);
    providers.close();
    actions.close();
  }
  stream.on('error', (error) => {
    if (error.code !== grpc.status.CANCELLED) fail(`stream: ${error.code} ${error.details}`);
    streamEnded = true;
    finish();
  });

  providers.RecordPlacement({ placement }, deadline(), (error) => {
    if (error) fail(`RecordPlacement: ${error.code} ${error.details}`);
    providers.RecordInspection(request, deadline(), (err, result) => {
      if (err) fail(`RecordInspection: ${err.code} ${err.details}`);
      response = result;
      finish();
    });
  });
}

main(process.argv);
