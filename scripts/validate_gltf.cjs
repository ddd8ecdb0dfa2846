// Validate a glTF 2.0 file with the Khronos glTF validator; print its JSON report.
// Usage: node scripts/validate_gltf.cjs FILE.glb
// The validator is installed by: npm install --prefix tools/gltf gltf-validator@2.0.0-dev.3.10
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require(path.join(__dirname, "..", "tools", "gltf", "node_modules", "gltf-validator"));

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/validate_gltf.cjs FILE.glb");
  process.exit(2);
}
const data = new Uint8Array(fs.readFileSync(file));
validator
  .validateBytes(data, { uri: path.basename(file), maxIssues: 100 })
  .then((report) => {
    process.stdout.write(JSON.stringify(report, null, 1) + "\n");
    process.exit(report.issues.numErrors === 0 ? 0 : 1);
  })
  .catch((err) => {
    console.error("validator failed: " + err);
    process.exit(2);
  });
