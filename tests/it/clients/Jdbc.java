// The PostgreSQL JDBC driver (what FineBI, DBeaver and Metabase use) against `persona serve`:
// DatabaseMetaData.getTables for tables and views, and a prepared statement with a parameter.
// Usage: java -cp postgresql.jar:. Jdbc PORT USER PASSWORD
import java.sql.*;

public class Jdbc {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/persona?sslmode=disable";
        try (Connection c = DriverManager.getConnection(url, args[1], args[2])) {
            DatabaseMetaData md = c.getMetaData();
            int views = 0, tables = 0;
            boolean c360 = false;
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"VIEW"})) {
                while (rs.next()) {
                    views++;
                    c360 |= rs.getString("TABLE_NAME").equals("customer_360");
                }
            }
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables++;
            }
            System.out.println("jdbc_views: " + views + " " + c360);
            System.out.println("jdbc_tables: " + tables);
            try (PreparedStatement ps =
                    c.prepareStatement("SELECT count(*) FROM customers WHERE gender = ?")) {
                ps.setString(1, "F");
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    System.out.println("jdbc_count: " + rs.getLong(1));
                }
            }
        }
    }
}
