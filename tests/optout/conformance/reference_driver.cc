// Reads records from stdin: <len robots>\n<robots bytes><agent>\n<url>\n ; prints 1 (allowed) or 0 per record.
#include <iostream>
#include <string>
#include <vector>
#include "robots.h"
int main() {
  std::string header;
  while (std::getline(std::cin, header)) {
    if (header.empty()) continue;
    size_t n = std::stoul(header);
    std::string body(n, '\0');
    std::cin.read(&body[0], n);
    std::string agent, url;
    std::getline(std::cin, agent);
    std::getline(std::cin, url);
    googlebot::RobotsMatcher matcher;
    std::vector<std::string> agents(1, agent);
    std::cout << (matcher.AllowedByRobots(body, &agents, url) ? 1 : 0) << "\n";
  }
}
