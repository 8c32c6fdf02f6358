# Server defaults as in Jupyter Docker Stacks' /etc/jupyter/jupyter_server_config.py.
import os

c = get_config()  # noqa: F821
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.open_browser = False
c.ServerApp.port = int(os.getenv("JUPYTER_PORT", "8888"))
c.FileContentsManager.delete_to_trash = False
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash"]}
