-- tag: sentiment
-- group: voice
-- description: How the customer feels, from the average sentiment of their social comments and feedback texts: positive (>= 0.05), negative (<= -0.05) or neutral; customers without texts have no tag.
-- refresh: daily
-- from: customer_sentiment
WHEN avg_sentiment >= 0.05 THEN label('positive', '正面')
WHEN avg_sentiment <= -0.05 THEN label('negative', '负面')
ELSE label('neutral', '中性')
