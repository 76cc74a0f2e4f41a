// tinypool's (and piscina's) worker for `npm run bench`: x*x.
export default function sqr(x) {
  return x * x;
}
