/**
 * A lifeline: one tiny `sh`, started with the first backend, that ends every watched process group when this
 * process dies without doing so itself (SIGKILL, a crash: nothing in-process can run then). It learns of
 * groups over a pipe ("add <pgid>", "del <pgid>") and acts when the pipe closes: SIGTERM to each group still
 * listed, then SIGKILL after the grace period. One watcher serves a whole router or proxy, however many
 * backends it runs. Ignores the signals a terminal sends, so Ctrl-C in a client's terminal does not take it
 * away before it is needed. Without `sh`, only the crash case is lost: normal shutdown ends groups in-process.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const WATCHER = `trap '' INT TERM HUP
groups=" "
while read -r op pg; do
  case "$op" in
    add) groups="$groups$pg " ;;
    del) case "$groups" in *" $pg "*) groups="\${groups%% $pg *} \${groups#* $pg }" ;; esac ;;
    bye) exit 0 ;;
  esac
done
[ "$groups" = " " ] && exit 0
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
sleep "$0"
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
exit 0`;

export class Lifeline {
  private watcher: ChildProcess | undefined;

  /** @param graceMs time between SIGTERM and SIGKILL once this process is gone */
  constructor(private readonly graceMs = 1000) {}

  /** Watches one process group; call the returned function once the group has been ended in-process. */
  watch(pgid: number): () => void {
    const w = this.watcher ?? this.start();
    this.write(w, `add ${pgid}\n`);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // To the watcher that was told of it (a watcher started later never knew the group).
      this.write(w, `del ${pgid}\n`);
    };
  }

  /** This process ends cleanly and has ended its groups: the watcher exits without touching any. */
  close(): void {
    const w = this.watcher;
    this.watcher = undefined;
    if (w?.stdin?.writable) w.stdin.end('bye\n');
  }

  private write(w: ChildProcess, line: string): void {
    if (w.stdin?.writable) w.stdin.write(line);
  }

  private start(): ChildProcess {
    const grace = String(Math.max(1, Math.ceil(this.graceMs / 1000)));
    const w = spawn('/bin/sh', ['-c', WATCHER, grace], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    w.on('error', () => undefined);
    w.stdin!.on('error', () => undefined);
    // Neither the watcher nor its pipe keeps this process alive.
    w.unref();
    (w.stdin as unknown as { unref?: () => void }).unref?.();
    this.watcher = w;
    return w;
  }
}
