// The CPU-bound floor of `npm run bench`: a forked child that runs fib(n) `count` times per message.
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
process.on('message', ([n, count]) => {
  for (let i = 0; i < count; i++) fib(n);
  process.send('done');
});
