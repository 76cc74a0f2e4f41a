// poolifier's cluster worker for `npm run bench`: x*x.
const { ClusterWorker } = require('poolifier');
module.exports = new ClusterWorker((x) => x * x);
