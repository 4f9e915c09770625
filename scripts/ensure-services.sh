#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer; start them if installed and down.
set -u
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && { command -v pg_isready >/dev/null || return 0; pg_isready -q -h 127.0.0.1 -p 5432; }; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

if ! pg_up; then
  echo "PostgreSQL is down on 127.0.0.1:5432; trying to start it"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true; done
  elif command -v service >/dev/null; then
    service postgresql start 2>/dev/null || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! pg_up; then
  echo "ERROR: PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started." >&2
  echo "       Install it (apt-get install postgresql) or run 'docker compose up -d postgres redis'." >&2
  exit 1
fi

if ! redis_up; then
  echo "Redis is down on 127.0.0.1:6379; trying to start it"
  if command -v redis-server >/dev/null; then
    mkdir -p /tmp/finops-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/finops-redis \
      --logfile /tmp/finops-redis/redis.log >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
fi
if ! redis_up; then
  echo "ERROR: Redis is not reachable on 127.0.0.1:6379 and could not be started." >&2
  echo "       Install it (apt-get install redis-server) or run 'docker compose up -d postgres redis'." >&2
  exit 1
fi
echo "PostgreSQL and Redis are up."
