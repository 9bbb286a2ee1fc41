"""The production instance file deploy/dagster.yaml on AWS: runs launched as ECS tasks, compute
logs in S3, the instance in PostgreSQL.

AWS is moto's server on 127.0.0.1 (boto3 reaches it through AWS_ENDPOINT_URL). The launcher
copies cluster, subnets and security groups from the ECS task it runs in
(use_current_ecs_task_config), so moto first runs the daemon's task and a local HTTP server plays
the ECS task metadata endpoint through which a container learns its task. PostgreSQL is the
machine's own (started by .ci/run).
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from moto.server import ThreadedMotoServer

from community_metrics.config import PROJECT_ROOT, load_settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import LOCATION, SEED_JOB
from community_metrics.runner import execute

from .conftest import postgres_env

REGION = "us-east-1"
CLUSTER = "community-metrics"
BUCKET = "community-metrics-dagster-logs"
LOG_PREFIX = "compute-logs"


@dataclass(frozen=True)
class Aws:
    subnet: str
    security_group: str
    cluster_arn: str
    task_definition_arn: str
    daemon_task_arn: str


def moto_api(endpoint: str, path: str, body: dict | None = None) -> None:
    data = json.dumps(body or {}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/{path}", data), timeout=10)


@pytest.fixture
def moto_endpoint(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state in the process, across servers: start from none
    moto_api(endpoint, "reset")
    # moto moves an ECS task one status on (RUNNING, DEACTIVATING, STOPPING, ...) at each
    # describe_tasks; a real task stays RUNNING until it ends or is stopped
    moto_api(
        endpoint,
        "state-manager/set-transition",
        {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10**9}},
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    yield endpoint
    moto_api(endpoint, "state-manager/unset-transition", {"model_name": "ecs::task"})
    moto_api(endpoint, "reset")
    server.stop()


@pytest.fixture
def aws(moto_endpoint) -> Aws:
    """The log bucket, a VPC for Fargate, the cluster, the run task definition and the daemon's
    task (the one the launcher runs in)."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ec2, ecs = boto3.client("ec2"), boto3.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # moto workarounds (each run_task fails with a 500 without it): an awsvpc task's network
    # interface needs a VPC with DNS hostnames (else no private_dns_name), securityGroups in
    # the network configuration (KeyError) and a memory on each container (TypeError)
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="dagster", Description="dagster tasks", VpcId=vpc)[
        "GroupId"
    ]
    cluster_arn = ecs.create_cluster(clusterName=CLUSTER)["cluster"]["clusterArn"]
    task_definition_arn = ecs.register_task_definition(
        family="community-metrics-run",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "run", "image": "community-metrics:test", "memory": 512, "essential": True}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    daemon = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=task_definition_arn,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [group],
                "assignPublicIp": "DISABLED",
            }
        },
    )["tasks"][0]
    return Aws(subnet, group, cluster_arn, task_definition_arn, daemon["taskArn"])


@pytest.fixture
def task_metadata_endpoint(aws, monkeypatch):
    """ECS task metadata endpoint v4 for the daemon's task, as ECS injects it into a container."""
    task = {"Cluster": aws.cluster_arn, "TaskARN": aws.daemon_task_arn}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(task if self.path.endswith("/task") else {"Name": "daemon"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{server.server_port}/v4")
    yield
    server.shutdown()
    server.server_close()


@pytest.fixture
def deploy_env(env, aws, postgres_db, monkeypatch) -> dict[str, str]:
    """DAGSTER_HOME holding the real deploy/dagster.yaml, and every variable it reads."""
    home = Path(env["DAGSTER_HOME"])
    shutil.copyfile(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    values = {
        **postgres_env(postgres_db),
        # the family: the launcher resolves it to the latest revision's ARN
        "DAGSTER_ECS_TASK_DEFINITION": "community-metrics-run",
        "DAGSTER_ECS_CONTAINER": "run",
        "DAGSTER_COMPUTE_LOGS_BUCKET": BUCKET,
        "DAGSTER_COMPUTE_LOGS_PREFIX": LOG_PREFIX,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**env, **values}


@pytest.fixture
def prod_instance(deploy_env):
    with dg.DagsterInstance.from_config(deploy_env["DAGSTER_HOME"]) as inst:
        yield inst


def test_deploy_file_configures_ecs_s3_and_postgres(prod_instance, aws):
    launcher = prod_instance.run_launcher
    assert type(launcher).__name__ == "EcsRunLauncher"
    assert launcher.task_definition == aws.task_definition_arn
    assert launcher.container_name == "run"
    assert launcher.use_current_ecs_task_config is True
    assert launcher.secrets_tags == []
    assert type(prod_instance.compute_log_manager).__name__ == "S3ComputeLogManager"
    assert type(prod_instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(prod_instance.event_log_storage).__name__ == "BatchedPostgresEventLogStorage"


def test_run_is_launched_monitored_and_terminated_as_an_ecs_task(
    prod_instance, aws, task_metadata_endpoint
):
    ecs, ec2 = boto3.client("ecs"), boto3.client("ec2")
    target = WorkspaceFileTarget(paths=[str(PROJECT_ROOT / "workspace.yaml")])
    with WorkspaceProcessContext(prod_instance, target) as process_context:
        workspace = process_context.create_request_context()
        location = workspace.get_code_location(LOCATION)
        (repository,) = location.get_repositories().values()
        job = repository.get_full_job(SEED_JOB)
        plan = location.get_execution_plan(job, {}, None, None, instance=prod_instance)
        run = prod_instance.create_run(
            job_name=SEED_JOB,
            run_id=None,
            run_config={},
            resolved_op_selection=None,
            step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags=job.tags,
            job_snapshot=job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=job.parent_job_snapshot,
            remote_job_origin=job.get_remote_origin(),
            job_code_origin=job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repository.asset_graph,
        )
        # what the daemon's run queue does with a queued run
        prod_instance.launch_run(run.run_id, workspace)

    run = prod_instance.get_run_by_id(run.run_id)
    task_arn, cluster = run.tags["ecs/task_arn"], run.tags["ecs/cluster"]
    assert cluster == aws.cluster_arn
    assert set(ecs.list_tasks(cluster=CLUSTER)["taskArns"]) == {aws.daemon_task_arn, task_arn}
    (task,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn], include=["TAGS"])["tasks"]
    assert {"key": "dagster/run_id", "value": run.run_id} in task["tags"]
    assert {"key": "dagster/job_name", "value": SEED_JOB} in task["tags"]
    assert task["taskDefinitionArn"] == aws.task_definition_arn
    assert task["launchType"] == "FARGATE"
    (container,) = task["overrides"]["containerOverrides"]
    assert container["name"] == "run"
    assert container["command"][:3] == ["dagster", "api", "execute_run"]
    assert run.run_id in container["command"][3]
    # the run's task is in the daemon's subnet, behind its security group
    (eni,) = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
    details = {d["name"]: d["value"] for d in eni["details"]}
    assert details["subnetId"] == aws.subnet
    (interface,) = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]]
    )["NetworkInterfaces"]
    assert [g["GroupId"] for g in interface["Groups"]] == [aws.security_group]
    launched = prod_instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    (launch_event,) = [
        e.dagster_event
        for e in launched
        if e.dagster_event.message == "[EcsRunLauncher] Launching run in ECS task"
    ]
    assert launch_event.engine_event_data.metadata["ECS Task ARN"].value == task_arn

    health = prod_instance.run_launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.RUNNING, health.msg

    assert prod_instance.run_launcher.terminate(run.run_id) is True
    (task,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"]
    assert task["lastStatus"] == "STOPPED"
    assert prod_instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELING
    # the daemon's own task is untouched
    (daemon,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[aws.daemon_task_arn])["tasks"]
    assert daemon["lastStatus"] == "RUNNING"


def test_compute_logs_are_stored_in_s3(prod_instance, deploy_env):
    defs = build_definitions(load_settings(deploy_env))
    result = execute(defs, SEED_JOB, prod_instance)
    manager = prod_instance.compute_log_manager
    (captured,) = prod_instance.all_logs(result.run_id, of_type=dg.DagsterEventType.LOGS_CAPTURED)
    log_key = manager.build_log_key_for_run(
        result.run_id, captured.dagster_event.logs_captured_data.file_key
    )
    # the manager stages captures under /tmp/<run id> (no local_dir in the deploy file)
    staged = Path(manager.local_manager.get_captured_local_path(log_key, "err")).parents[1]
    try:
        assert result.success
        s3 = boto3.client("s3")
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{LOG_PREFIX}/")
        keys = {o["Key"] for o in listed.get("Contents", [])}
        base = f"{LOG_PREFIX}/storage/{'/'.join(log_key)}"
        assert {f"{base}.out", f"{base}.err"} <= keys, keys
        stderr = s3.get_object(Bucket=BUCKET, Key=f"{base}.err")["Body"].read().decode()
        # Dagster's own event lines and what the embeddings asset logged, for this run
        assert f"{SEED_JOB} - {result.run_id} - " in stderr
        assert "STEP_SUCCESS" in stderr
        assert "embedded 32 of 32 mentions" in stderr

        # the UI's read path: with the staged copy gone, the manager fetches the log from S3
        manager.local_manager.delete_logs(log_key=log_key)
        assert not manager.has_local_file(log_key, ComputeIOType.STDERR)
        assert manager.get_log_data(log_key).stderr.decode() == stderr
        assert manager.get_log_metadata(log_key).stderr_location == f"s3://{BUCKET}/{base}.err"
    finally:
        if staged.name == result.run_id:
            shutil.rmtree(staged, ignore_errors=True)
