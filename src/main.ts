// Entry point of the single executable: one binary, several modes.
const [command, ...rest] = process.argv.slice(2);
console.error(`device-mounter: unknown command ${JSON.stringify(command ?? "")}`, rest.length);
process.exit(2);
