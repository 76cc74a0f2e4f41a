// Objects keep their class between processes, as pickle keeps it in Python:
// an Account goes to a child, gets a deposit there, and comes back an Account.
import { isMainModule, Pool, Process, Queue } from 'multiproc';

class Account {
  constructor(
    public owner: string,
    public balance: number,
  ) {}

  deposit(amount: number): this {
    this.balance += amount;
    return this;
  }
}

async function teller(account: Account, back: Queue<Account>): Promise<void> {
  await back.put(account.deposit(50)); // a method: account is an Account here
}

function open(owner: string): Account {
  return new Account(owner, 10);
}

if (isMainModule(import.meta)) {
  const back = new Queue<Account>();
  const p = new Process({ target: teller, args: [new Account('ada', 100), back] });
  p.start();
  const account = await back.get();
  await p.join();
  console.log(`${account.owner}: ${account.balance}, an Account: ${account instanceof Account}`);

  await using pool = new Pool(2);
  const opened = await pool.map(open, ['grace', 'alan']);
  console.log(opened.map((a) => `${a.deposit(1).owner}: ${a.balance}`).join(', '));
}
