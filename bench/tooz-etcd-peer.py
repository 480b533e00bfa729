"""tooz's etcd3gw driver (the etcd lock OpenStack services use) as a contender
in bench/coordination-backends.ts. One JSON command per line on stdin, one
JSON answer per line on stdout; every figure is measured here, in Python, so
the pipe to Node is not part of it.

  {"cmd": "start", "url": "etcd3+http://host:port"}
  {"cmd": "cycle", "key": k}       -> {"us": acquire+release time}
  {"cmd": "handoff", "key": k}     -> {"ms": release-to-held time, "requests": HTTP requests}
  {"cmd": "retake", "key": k, "starved": s} -> {"ms": wait, "grants": the re-taker's grants meanwhile}
  {"cmd": "stop"}
"""
import json
import sys
import threading
import time

import etcd3gw
import requests
import tenacity
from etcd3gw.client import Etcd3Client
from tooz import coordination

# Debian's tooz passes api_path to etcd3gw.client(), which Debian's etcd3gw 2.0
# no longer takes (its Etcd3Client still does): hand it to the class.
etcd3gw.client = lambda **kwargs: Etcd3Client(**kwargs)

sent = [0]
_request = requests.Session.request


def counted(self, *args, **kwargs):
    sent[0] += 1
    return _request(self, *args, **kwargs)


requests.Session.request = counted

members = {}


def lock(member, key):
    return members[member].get_lock(key.encode())


def start(url):
    for name in ('a', 'b'):
        member = coordination.get_coordinator(url + '?api_version=v3&lock_timeout=30', ('bench-' + name).encode())
        member.start(start_heart=False)
        members[name] = member
    return {}


def cycle(key):
    held = lock('a', key)
    started = time.perf_counter()
    held.acquire()
    held.release()
    return {'us': (time.perf_counter() - started) * 1e6}


def handoff(key):
    held = lock('a', key)
    held.acquire()
    waiter = lock('b', key)
    got = {}

    def wait():
        waiter.acquire()
        got['at'] = time.perf_counter()
        got['sent'] = sent[0]

    before = sent[0]
    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.03)
    released = time.perf_counter()
    held.release()
    thread.join()
    waiter.release()
    return {'ms': (got['at'] - released) * 1e3, 'requests': got['sent'] - before}


def retake(key, starved):
    greedy = lock('a', key)
    state = {'stop': False, 'grants': 0}

    def loop():
        while not state['stop']:
            greedy.acquire()
            state['grants'] += 1
            greedy.release()

    thread = threading.Thread(target=loop)
    thread.start()
    time.sleep(0.02)
    waiter = lock('b', key)
    before = state['grants']
    started = time.perf_counter()
    ms = starved * 1e3
    try:
        acquired = waiter.acquire(blocking=starved)
    except tenacity.RetryError:  # tooz lets its retry library's "gave up" through
        acquired = False
    if acquired:
        ms = (time.perf_counter() - started) * 1e3
        grants = state['grants'] - before
        waiter.release()
    else:
        grants = state['grants'] - before
    state['stop'] = True
    thread.join()
    return {'ms': ms, 'grants': grants}


def main():
    for line in sys.stdin:
        message = json.loads(line)
        cmd = message['cmd']
        try:
            if cmd == 'start':
                reply = start(message['url'])
            elif cmd == 'cycle':
                reply = cycle(message['key'])
            elif cmd == 'handoff':
                reply = handoff(message['key'])
            elif cmd == 'retake':
                reply = retake(message['key'], message['starved'])
            elif cmd == 'stop':
                for member in members.values():
                    member.stop()
                reply = {}
            else:
                raise ValueError('unknown command ' + cmd)
            reply['ok'] = True
        except Exception as error:  # the Node side reports it
            reply = {'ok': False, 'error': '%s: %s' % (type(error).__name__, error)}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()
        if cmd == 'stop':
            return


main()
