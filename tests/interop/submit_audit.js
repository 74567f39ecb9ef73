#!/usr/bin/env node
// Interop check from a second gRPC stack: submits an audit to a running Lenses
// server with @grpc/grpc-js and prints the AuditEvaluation as one JSON line.
//
//   node tests/interop/submit_audit.js <host:port> <request.json> <audit-id>
//
// <request.json> is a SubmitAuditRequest in proto3 JSON ({"audit": {...}},
// camelCase names, enums by name, int64 as strings); audit.auditId is
// replaced by <audit-id> so runs never collide. Exits 1 on any failure.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const ROOT = path.resolve(__dirname, '..', '..');
const PROTO_DIR = path.join(ROOT, 'proto');
const DEADLINE_MS = 20000;

function fail(message) {
  process.stderr.write(`submit_audit: ${message}\n`);
  process.exit(1);
}

function main(argv) {
  const [address, requestFile, auditId] = argv.slice(2);
  if (!address || !requestFile || !auditId) {
    fail('usage: node submit_audit.js <host:port> <request.json> <audit-id>');
  }

  const definition = protoLoader.loadSync(
    ['lenses/v1/audit.proto'],
    {
      includeDirs: [PROTO_DIR],
      keepCase: false, // camelCase field names, as in proto3 JSON
      enums: String,
      longs: String,
      defaults: true,
      oneofs: true,
    },
  );
  const lenses = grpc.loadPackageDefinition(definition).lenses.v1;

  let request;
  try {
    request = JSON.parse(fs.readFileSync(requestFile, 'utf8'));
  } catch (error) {
    fail(`cannot read ${requestFile}: ${error.message}`);
  }
  if (!request || typeof request.audit !== 'object' || request.audit === null) {
    fail(`${requestFile} has no "audit" object`);
  }
  request.audit.auditId = auditId;

  const client = new lenses.AuditService(address, grpc.credentials.createInsecure());
  const deadline = new Date(Date.now() + DEADLINE_MS);
  client.SubmitAudit(request, { deadline }, (error, response) => {
    client.close();
    if (error) {
      const code = grpc.status[error.code] || error.code;
      fail(`SubmitAudit failed: ${code}: ${error.details || error.message}`);
    }
    process.stdout.write(`${JSON.stringify(response)}\n`);
  });
}

try {
  main(process.argv);
} catch (error) {
  fail(error && error.stack ? error.stack : String(error));
}
