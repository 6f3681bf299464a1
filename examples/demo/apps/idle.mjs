// An idle client pod: stays up so `ambit exec` has somewhere to run commands.
process.stdout.write(`${process.env.POD_NAME ?? 'idle'} ready\n`);
setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => process.exit(0));
