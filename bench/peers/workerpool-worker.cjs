// workerpool's worker for `npm run bench`: x*x.
const workerpool = require('workerpool');
workerpool.worker({ sqr: (x) => x * x });
