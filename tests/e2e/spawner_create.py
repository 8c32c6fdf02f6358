"""Create (never start) a user container the way the deployment's DockerSpawner does.

    python3 spawner_create.py CONFIG_FILE USERNAME   (environment as docker-compose.yml sets it)

Loads the hub config with JupyterHub's own machinery, builds the configured
spawner for USERNAME and runs its create_object(): the real DockerSpawner and
docker SDK send the real create request to the engine in DOCKER_HOST (or the
local socket).  Prints the new container's id.  For features the test machine
cannot start, e.g. GPUs: the engine accepts device requests at create time and
`docker inspect` shows what it received.
"""

import asyncio
import sys
import types

from jupyterhub.app import JupyterHub
from jupyterhub.objects import Hub


async def create(path, username):
    app = JupyterHub()
    app.load_config_file(path)
    user = types.SimpleNamespace(name=username, id=0, url=f"/user/{username}/", escaped_name=username, groups=[])
    hub = Hub(ip="jupyterhub", port=8081, base_url="/hub/")
    spawner = app.spawner_class(user=user, hub=hub, config=app.config, api_token="not-used-never-started")
    await spawner._run_apply_user_options({})
    created = await spawner.create_object()
    return created["Id"]


if __name__ == "__main__":
    print(asyncio.run(create(sys.argv[1], sys.argv[2])))
