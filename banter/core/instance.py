"""This process's name among the instances sharing Redis: hostname, pid and a random tag
(pids repeat across containers and restarts)."""

import os
import secrets
import socket

INSTANCE_ID = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
