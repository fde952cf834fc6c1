// Start and stop a `weir serve` process for the kafkajs compatibility tests.
//
// Environment (same as the Python suite):
//   COMPAT_BOOTSTRAP      host:port of an already running broker: start nothing
//   WEIR_BIN              binary to run (default: <repo>/target/release/weir)
//   COMPAT_WEIR_ARGS      extra arguments for `weir serve` (split on whitespace),
//                         after the suite's defaults
//   COMPAT_START_TIMEOUT  seconds to wait for the `weir ready` line (default 60)
//   COMPAT_LOG_DIR        where to keep the broker log (default: the temp dir)
//   COMPAT_KEEP_DATA=1    keep the temporary data directory

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const READY_RE = /weir ready kafka=(\S+)/
// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;]*[A-Za-z]/g

/** Distinct free loopback ports, held open together so none repeats. */
export async function reservePorts (n) {
  const servers = []
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer()
      await new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', resolve)
      })
      servers.push(server)
    }
    return servers.map(s => s.address().port)
  } finally {
    await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))))
  }
}


/**
 * Returns { bootstrap, logPath, stop() }. stop() resolves to the exit code
 * (0 expected after SIGTERM), a string if it had to be killed, or null for an
 * external broker.
 *
 * `options.ports`: how many more free ports to reserve (returned as `ports`);
 * `options.args(ports)`: more `weir serve` arguments; `options.env`: more
 * environment. A suite that needs them (listeners, users) always starts its own.
 */
export async function startBroker (options = {}) {
  const external = (process.env.COMPAT_BOOTSTRAP || '').trim()
  if (external && !options.args) {
    return {
      bootstrap: external,
      registryUrl: process.env.COMPAT_REGISTRY_URL || null,
      logPath: null,
      stop: async () => null,
      restart: null,
      tail: () => '',
    }
  }
  const bin = process.env.WEIR_BIN || path.join(REPO_ROOT, 'target', 'release', 'weir')
  try {
    fs.accessSync(bin, fs.constants.X_OK)
  } catch {
    throw new Error(`weir binary not found or not executable: ${bin} (build it with ` +
      '`cargo build --release`, set WEIR_BIN, or point COMPAT_BOOTSTRAP at a running broker)')
  }
  const timeoutS = Number(process.env.COMPAT_START_TIMEOUT || '60')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-compat-node-'))
  const logDir = process.env.COMPAT_LOG_DIR || dataDir
  fs.mkdirSync(logDir, { recursive: true })
  const logPath = path.join(logDir, `weir-node-${path.basename(process.argv[1] || 'suite')}.log`)
  const [kafka, registry, console_, ...ports] = await reservePorts(3 + (options.ports || 0))
  const args = [
    'serve',
    '--data-dir', path.join(dataDir, 'data'),
    '--kafka-addr', `127.0.0.1:${kafka}`,
    '--registry-addr', `127.0.0.1:${registry}`,
    '--console-addr', `127.0.0.1:${console_}`,
    // Consumer groups complete their first rebalance at once instead of waiting 3 s
    // for more members; COMPAT_WEIR_ARGS come after, so they win.
    '--set', 'group.initial.rebalance.delay.ms=0',
    '--set', 'group.consumer.heartbeat.interval.ms=500',
    '--set', 'group.consumer.min.heartbeat.interval.ms=500',
    ...(options.args ? options.args(ports) : []),
    ...(process.env.COMPAT_WEIR_ARGS || '').split(/\s+/).filter(Boolean),
  ]
  const log = fs.createWriteStream(logPath)
  const recent = [] // the last lines, for error messages (the file may lag behind)
  const record = line => {
    log.write(line + '\n')
    recent.push(line)
    if (recent.length > 60) recent.shift()
  }
  const tail = () => recent.join('\n')
  let child, exited, closed, killGroup
  const killOnExit = () => killGroup?.()

  /** Spawns `bin args` and resolves to the address of its ready line. */
  async function launch () {
    record(`$ ${bin} ${args.join(' ')}`)
    child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(options.env || {}), NO_COLOR: '1' },
      detached: true, // own process group, so that everything it started can be killed
    })
    const proc = child
    killGroup = () => {
      try { process.kill(-proc.pid, 'SIGKILL') } catch {}
    }
    // Backstop: never leave a broker behind, whatever happens to this process.
    process.off('exit', killOnExit)
    process.on('exit', killOnExit)

    exited = new Promise(resolve => proc.once('exit', (code, signal) => resolve(code ?? `signal ${signal}`)))
    closed = new Promise(resolve => proc.once('close', resolve))
    return new Promise((resolve, reject) => {
      let done = false
      const finish = (err, value) => {
        if (done) return
        done = true
        clearTimeout(timer)
        err ? reject(err) : resolve(value)
      }
      for (const stream of [proc.stdout, proc.stderr]) {
        readline.createInterface({ input: stream }).on('line', line => {
          record(line)
          const m = READY_RE.exec(line.replace(ANSI_RE, ''))
          if (m) finish(null, m[1])
        })
      }
      const timer = setTimeout(() => {
        killGroup()
        finish(new Error(`no \`weir ready\` line within ${timeoutS}s; log ${logPath}:\n${tail()}`))
      }, timeoutS * 1000)
      proc.once('error', err => finish(err))
      exited.then(code => closed.then(() =>
        finish(new Error(`weir exited with ${code} before it was ready; log ${logPath}:\n${tail()}`))))
    })
  }

  /** SIGTERM and wait (SIGKILL after `timeoutMs`); resolves to the exit code. */
  async function terminate (timeoutMs = 20000) {
    let code
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      let timer
      const killed = new Promise(resolve => {
        timer = setTimeout(() => {
          killGroup()
          resolve(`killed: no exit within ${timeoutMs / 1000}s of SIGTERM`)
        }, timeoutMs)
      })
      code = await Promise.race([exited, killed])
      clearTimeout(timer)
    } else {
      code = await exited
    }
    killGroup()
    await closed
    return code
  }

  const bootstrap = await launch()

  async function stop (timeoutMs = 20000) {
    const code = await terminate(timeoutMs)
    await new Promise(resolve => log.end(resolve))
    process.off('exit', killOnExit)
    if (code === 0 && process.env.COMPAT_KEEP_DATA !== '1') {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
    return code
  }

  /** Clean stop (exit 0 expected), then the same command again: same port, same
   *  data directory, so clients reconnect to the same address. */
  async function restart () {
    const code = await terminate()
    if (code !== 0) throw new Error(`weir exited with ${code} on SIGTERM before a restart; log ${logPath}`)
    record('---- restart ----')
    const again = await launch()
    if (again !== bootstrap) throw new Error(`restarted on ${again}, expected ${bootstrap}`)
  }

  return { bootstrap, registryUrl: `http://127.0.0.1:${registry}`, logPath, stop, restart, tail, ports }
}
