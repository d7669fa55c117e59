#!/usr/bin/env bash
# Submitting a Spark application to spark-scheduler. Spark labels driver and executor pods itself
# (spark-role, spark-app-selector); pod templates set the scheduler name and the instance group.
# The spark-* annotations below size the gang; without them spark-scheduler derives the size from the
# driver's Spark conf ConfigMap (zero-configuration mode).
set -euo pipefail
spark-submit \
  --master "k8s://https://$KUBERNETES_SERVICE_HOST:443" \
  --deploy-mode cluster \
  --conf spark.kubernetes.namespace=spark \
  --conf spark.kubernetes.scheduler.name=spark-scheduler \
  --conf spark.kubernetes.driver.node.selector.instance-group=batch \
  --conf spark.kubernetes.executor.node.selector.instance-group=batch \
  --conf spark.executor.instances=8 \
  --conf spark.executor.cores=4 \
  --conf spark.executor.memory=14g \
  --conf spark.driver.memory=4g \
  --conf spark.kubernetes.driver.annotation.spark-driver-cpu=1 \
  --conf spark.kubernetes.driver.annotation.spark-driver-mem=4505Mi \
  --conf spark.kubernetes.driver.annotation.spark-executor-cpu=4 \
  --conf spark.kubernetes.driver.annotation.spark-executor-mem=15769Mi \
  --conf spark.kubernetes.driver.annotation.spark-executor-count=8 \
  local:///opt/spark/examples/jars/spark-examples.jar
