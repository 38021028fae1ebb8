// Run before `npm start` and `npm test`. wakegate runs its TypeScript natively (type stripping), which
// Node.js has without a flag from 22.18 on; an older Node fails later with a cryptic
// ERR_UNKNOWN_FILE_EXTENSION ".ts". So this file is plain CommonJS that any Node parses, and says instead
// in one line what to do.
var parts = process.versions.node.split('.');
var major = Number(parts[0]);
var minor = Number(parts[1]);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    'wakegate needs Node.js >= 22.18 (found v' +
      process.versions.node +
      "): run '. scripts/node24.sh' to use Node 24 in this shell\n",
  );
  process.exit(1);
}
