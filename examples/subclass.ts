// The subclass form: fields travel to the child, run() runs there.
import { isMainModule, Process } from 'multiproc';

class Singer extends Process {
  constructor(public song: string, public times: number) {
    super({ name: 'singer' });
  }

  override async run(): Promise<void> {
    for (let i = 1; i <= this.times; i++) console.log(`${this.name} (pid ${process.pid}) sings ${this.song} #${i}`);
  }
}

if (isMainModule(import.meta)) {
  const singer = new Singer('唱歌', 2);
  singer.start();
  await singer.join();
  console.log(`exit code ${singer.exitCode}`);
}
