// The raw IPC round trip of `npm run bench`: a forked child that echoes process.send messages.
process.on('message', (message) => process.send(message));
