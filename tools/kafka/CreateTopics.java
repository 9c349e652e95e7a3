// CreateTopics - creates Kafka topics, all in one admin request, skipping the
// ones that exist. Run from source by tools/infra/infra.sh (one JVM for every
// topic, where kafka-topics would need one JVM per topic):
//
//   java -cp 'tools/kafka/lib/*' tools/kafka/CreateTopics.java \
//        <bootstrap> <replication factor> <topic> <partitions> [<topic> <partitions>]...
//
// Prints "created <topic>" or "exists <topic>" per topic; exits 1 on any
// other error. Partition counts of existing topics are not checked here.

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.TopicExistsException;

public final class CreateTopics {
    public static void main(String[] args) throws InterruptedException {
        if (args.length < 4 || args.length % 2 != 0) {
            System.err.println("usage: CreateTopics <bootstrap> <replication factor> <topic> <partitions>...");
            System.exit(2);
        }
        short replication = Short.parseShort(args[1]);
        List<NewTopic> topics = new ArrayList<>();
        for (int i = 2; i < args.length; i += 2) {
            topics.add(new NewTopic(args[i], Integer.parseInt(args[i + 1]), replication));
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        int failures = 0;
        try (Admin admin = Admin.create(props)) {
            for (Map.Entry<String, KafkaFuture<Void>> e : admin.createTopics(topics).values().entrySet()) {
                try {
                    e.getValue().get();
                    System.out.println("created " + e.getKey());
                } catch (ExecutionException ex) {
                    if (ex.getCause() instanceof TopicExistsException) {
                        System.out.println("exists " + e.getKey());
                    } else {
                        System.err.println("error " + e.getKey() + ": " + ex.getCause());
                        failures++;
                    }
                }
            }
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
