// Loaded before every unit test file (see .mocharc.json).
// onnxruntime-node 1.30 queues telemetry in a SQLite file under ~/.cache/Microsoft unless this is set.
process.env.ORT_DISABLE_TELEMETRY = '1';
